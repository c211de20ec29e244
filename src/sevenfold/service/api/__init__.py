"""HTTP plumbing shared by every domain: dependencies, problems, middleware."""
