from tests.subscribers.conftest import setup

__all__ = ["setup"]
