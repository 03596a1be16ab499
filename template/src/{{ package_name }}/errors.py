"""Errors a job reports to its user as one clear line instead of a traceback."""


class JobError(Exception):
    """A job cannot run: bad config, bad data or a missing model."""


class ConfigError(JobError):
    """A config file is missing, malformed or holds unknown or invalid keys."""


class DataError(JobError):
    """An input table is missing, empty or does not match the expected schema."""


class ModelNotFoundError(JobError):
    """No model exists at the requested URI, registry name or alias."""
