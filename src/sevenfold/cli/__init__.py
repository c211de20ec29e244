"""The operator CLI: talks to the service over HTTP only."""
