"""The front door: the `mlops` command (commands, rendering, exit codes), the prefect.yaml check, the local
Prefect stack (`mlops serve`) and the trigger client. The only package that knows about terminals and exit
codes; nothing below it (mlops/*.py, tasks/, flows/) imports it.

main.py            the typer app and the pipeline commands (validate, schema, run, replay, history, ...)
deploy_commands.py `mlops serve`, `mlops deploy`, `mlops trigger`
render.py          what the commands print (rich)
runtime.py         the quiet environment, Prefect settings for in-process runs, errors -> exit codes
checks.py          `mlops validate`: the spec and everything it points at, with a cache of inputs that passed
check_memo.py      each deep check of validate remembered by the inputs it reads (an edit re-runs only its part)
approvals.py       answering a manual promotion approval
init_command.py    `mlops init`: a spec and a suite written from a data file's profile
prefect_yaml.py    prefect.yaml generated from the specs (one template; `mlops deploy --write`)
project_check.py   `mlops deploy --check/--write`: the specs checked, prefect.yaml compared with what they generate
supervisor.py      `mlops serve`'s server and worker processes (and the helpers local_server.py shares)
local_server.py    the local Prefect server `mlops run` keeps running, on `prefect server start --background` (server_commands.py: its CLI)
server.py          work pools and deployments on the server, through Prefect's client
trigger.py         find a deployment, start its run, wait for it
errors.py          UsageError (exit 2), ServeError (exit 1)
"""

from mlops.cli.main import app

__all__ = ["app"]
