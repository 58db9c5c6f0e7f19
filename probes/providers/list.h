// The built-in providers, one line each, in the order reports list them.
// Adding a provider: a file probes/providers/NAME.cc defining
// `const ProviderDef NAME_provider` (see openai.cc), and one line here.
PATHWATCH_PROVIDER(openai)
PATHWATCH_PROVIDER(anthropic)
PATHWATCH_PROVIDER(gemini)
PATHWATCH_PROVIDER(discord)
// OpenAI-compatible providers: opt-in (default_enabled false), so pathwatch
// calls no third party unasked; Azure is a kind only (no public endpoint).
PATHWATCH_PROVIDER(azure)
PATHWATCH_PROVIDER(openrouter)
PATHWATCH_PROVIDER(deepseek)
PATHWATCH_PROVIDER(mistral)
PATHWATCH_PROVIDER(groq)
PATHWATCH_PROVIDER(xai)
PATHWATCH_PROVIDER(together)
