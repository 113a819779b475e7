"""The sandbox's HTTP routes: LinkedIn-like (Voyager) routes, the login flow, and the control API."""
