"""Deployment checks (`heliograph check`): the security posture of a configuration, by stable id.

docs/security/checks.md lists every id, what it means and how to fix it.
"""
