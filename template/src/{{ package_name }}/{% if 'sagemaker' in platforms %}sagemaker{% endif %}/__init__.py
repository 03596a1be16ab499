"""AWS SageMaker adapter: the container contract (`container`) and `/invocations`.

SageMaker runs the project's own image and CLI: nothing here trains or scores a model, it maps
SageMaker's folders, settings and HTTP routes onto the jobs and the service. Deploying is
operator tooling outside the package: deploy/sagemaker/deploy.py.
"""
