"""The inbox, subscribe-message grants, the outbox, content review and WeChat's push callback."""
