"""ntm: Amazon SageMaker's Neural Topic Model API, running anywhere."""

__version__ = "0.1.0"
