"""A GitHub double for tests and `selfmod demo`: REST, git smart HTTP and signed webhooks.

Run it on its own: `python -m bot.fakehub --port 9000 --repos DIR --app-id 1
--app-key app.pem --webhook-url http://127.0.0.1:8080/webhook --webhook-secret S`.
Bare repositories found as DIR/<owner>/<name>.git are served and installed
(installation id 1); every REST request is appended as a JSON line to the file
named by FAKEHUB_REQUEST_LOG (or --request-log).
"""
