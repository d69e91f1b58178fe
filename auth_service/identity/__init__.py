"""Who the user is: accounts, password sign-in and sessions, re-authentication, the second factor."""
