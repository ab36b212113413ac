"""Stand-ins for outside services and data, shared by tests and bench (never imported by
the app): fake Ollama and OpenAI servers, a scripted provider, a synthetic site, a seeded
ledger."""
