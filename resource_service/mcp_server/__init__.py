"""The user's notes as an MCP server (Streamable HTTP at /mcp), protected like the REST API."""
