"""Role-based access control: permissions, roles, assignments."""
