"""Outbound HTTP to customer URLs: `urlguard` (the SSRF guard: resolve, then refuse non-public
addresses) and `pinned_http` (the HTTP client pinned to the addresses the guard checked). This
package imports none of its modules; import the one you need."""
