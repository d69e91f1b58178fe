"""CoolNotesApp: a third-party web app that signs people in with MyAuthProvider (OpenID Connect)."""

import warnings

# Authlib 1.9 announces on import that its httpx integration will move to the `httpx2` package:
# nothing for this app to act on yet, and it would greet every `make run`.
warnings.filterwarnings("ignore", message="The httpx module is deprecated")
