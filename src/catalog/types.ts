/**
 * The model catalogue: which providers exist, how to reach them, which models they serve and what those
 * cost. Data lives in catalog/*.yaml; src/catalog/load.ts validates it at boot. Prices are USD per million
 * tokens so that the table reads like the providers' price pages.
 */

/** The wire format a provider speaks; one adapter folder per format under src/providers/. */
export type WireFormat = 'openai' | 'anthropic' | 'gemini' | 'cohere' | 'azure' | 'demo';

/** Behaviour of an OpenAI-compatible provider that differs from OpenAI itself. */
export interface ProviderQuirks {
  /** Headers sent on every request (OpenRouter's attribution headers). Values may use `${ENV}`. */
  readonly extraHeaders: Readonly<Record<string, string>>;
  /** Request fields this provider rejects; Nexus drops them and reports a warning. */
  readonly unsupportedParams: readonly string[];
  /** Whether `stream_options.include_usage` is understood; if not, Nexus strips it and reports a warning. */
  readonly supportsStreamUsage: boolean;
  /** Whether the provider serves `POST /embeddings`. */
  readonly supportsEmbeddings: boolean;
  /** The field the provider reads for the output limit; `max_completion_tokens` is renamed if needed. */
  readonly maxTokensField: 'max_tokens' | 'max_completion_tokens';
}

export interface ProviderSpec {
  /** Stable lower-case id used in `provider/model` addressing and env names (`groq` → `GROQ_API_KEY`). */
  readonly id: string;
  /** Display name; pooled instances are named `"<name> (Key #n)"`. */
  readonly name: string;
  readonly wire: WireFormat;
  /** Default base URL including the version path, e.g. `https://api.groq.com/openai/v1`. */
  readonly baseUrl: string;
  /** False for local servers (vLLM, Ollama) that are enabled by a base URL alone. */
  readonly requiresApiKey: boolean;
  /** Model used when a request names only the provider, or for `auto`. */
  readonly defaultModel: string | null;
  readonly quirks: ProviderQuirks;
}

export interface ModelPricing {
  /** USD per million prompt tokens. */
  readonly inputPerMillion: number;
  /** USD per million completion tokens. */
  readonly outputPerMillion: number;
  /** USD per million cached prompt tokens; null when the provider gives no cache discount. */
  readonly cachedInputPerMillion: number | null;
  /**
   * USD per million prompt tokens written to the provider's cache (Anthropic charges 1.25x input for 5-minute
   * writes); null when writes cost the normal input price.
   */
  readonly cacheWriteInputPerMillion: number | null;
}

export interface ModelCapabilities {
  readonly vision: boolean;
  readonly tools: boolean;
  readonly streaming: boolean;
  readonly jsonMode: boolean;
}

export interface ModelSpec {
  /** The provider's own model id, sent upstream as-is. */
  readonly id: string;
  /** ProviderSpec.id of the provider that serves it. */
  readonly provider: string;
  readonly mode: 'chat' | 'embedding';
  /** Other names that resolve to this model (`claude-3.5-sonnet` for a dated id). */
  readonly aliases: readonly string[];
  /** Context window in tokens. */
  readonly contextWindow: number;
  /** Maximum completion tokens; null when the provider does not publish one. */
  readonly maxOutputTokens: number | null;
  readonly pricing: ModelPricing;
  readonly capabilities: ModelCapabilities;
}

export interface Catalog {
  readonly providers: ReadonlyMap<string, ProviderSpec>;
  readonly models: readonly ModelSpec[];
}
