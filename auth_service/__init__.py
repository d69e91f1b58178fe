"""The authorization server: users, sessions, clients, /oauth/* endpoints, keys and discovery."""
