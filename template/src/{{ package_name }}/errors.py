"""Errors a job reports to its user as one clear line instead of a traceback."""


class JobError(Exception):
    """A job cannot run: bad config, bad data, a missing model or an unusable store."""


class ConfigError(JobError):
    """A config file or override is missing, malformed or holds unknown or invalid keys."""


class SchemaError(ConfigError):
    """`schema.py` declares a table no data can match: one class, a class listed twice..."""


class DataError(JobError):
    """An input table is missing, unreadable or off-schema, or an output cannot be written."""


class ModelError(JobError):
    """A model cannot be found, loaded or trained."""


class ModelNotFoundError(ModelError):
    """No model exists at the requested URI, registry name or alias."""


class TrackingError(JobError):
    """The MLflow tracking store or registry cannot be reached or is damaged."""


class DriftDetectedError(JobError):
    """Monitor found too large a share of the features drifted."""


class Stopped(BaseException):
    """SIGTERM arrived (a stopped pod, job or training job): unwinds the job as Ctrl-C does.

    A BaseException, like KeyboardInterrupt: no `except Exception` swallows it.
    """
