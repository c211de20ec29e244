"""Who may do what: permissions, roles and the principal a request acts as."""
