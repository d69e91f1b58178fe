"""What the browser sees: pages, cookies and CSRF, security headers, error pages."""
