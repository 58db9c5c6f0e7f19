// The built-in providers, one line each, in the order reports list them.
// Adding a provider: a file probes/providers/NAME.cc defining
// `const ProviderDef NAME_provider` (see openai.cc), and one line here.
PATHWATCH_PROVIDER(openai)
PATHWATCH_PROVIDER(anthropic)
PATHWATCH_PROVIDER(gemini)
PATHWATCH_PROVIDER(discord)
