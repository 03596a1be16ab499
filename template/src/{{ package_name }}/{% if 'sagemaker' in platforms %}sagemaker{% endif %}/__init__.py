"""AWS SageMaker adapter: the container contract (`container`, `invocations`) and `deploy`.

SageMaker runs the project's own image and CLI: nothing here trains or scores a model, it maps
SageMaker's folders, settings and HTTP routes onto the jobs and the service.
"""
