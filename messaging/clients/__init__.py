"""Clients of the remote services messaging depends on: Green API (``green_api``) and
DeepSeek (``deepseek``), their errors (``errors``), the checks on what we send
(``validation``) and the HTTP exchange they share (``http``)."""
