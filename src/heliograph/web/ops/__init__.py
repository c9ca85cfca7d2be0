"""The administrative listener's side of the web app: Django admin for operators, /metrics,
/ops/health, and the middleware that gives that listener (and only it) its own URLconf."""
