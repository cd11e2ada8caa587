"""Errors shared by the data sources."""


class DatasetNotFound(FileNotFoundError):
    """A data set is absent from every place looked at; the message names them and how to provide one."""
