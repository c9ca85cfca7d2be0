"""TLS that ``heliograph serve`` terminates itself: Mozilla profiles, the OpenSSL groups restart,
certificate reload, the plain-HTTP redirect on the TLS port, and HSTS."""
