namespace SeaLion.Client;

/// <summary>How a <see cref="SeaLionClient"/> reaches the cluster and what it sends with every call.</summary>
public sealed class SeaLionClientOptions
{
    /// <summary>The gateway's gRPC address. <c>http://</c> speaks cleartext HTTP/2 (h2c), <c>https://</c> TLS.
    /// Default <c>http://127.0.0.1:50051</c>, where <c>./sealion serve</c> listens.</summary>
    public Uri Address { get; set; } = new("http://127.0.0.1:50051");

    /// <summary>Other gateways of the same cluster, tried in order after <see cref="Address"/>: a call that cannot reach
    /// a gateway, or a stream whose gateway is lost mid-way, goes on through the next (round robin). Empty by default.</summary>
    public IList<Uri> FallbackAddresses { get; set; } = [];

    /// <summary>Resume a streamed generation or chat turn whose gateway was lost after its first token: the client sends
    /// the same request again, with the tokens (and text) it already received, through the next gateway, and the
    /// cluster continues after them, token-exact. For that a sampled request without a seed gets a random one from
    /// the client. Default true; false reports such a failure with <see cref="SeaLionException.AfterFirstToken"/>.</summary>
    public bool ResumeStreams { get; set; } = true;

    /// <summary>Sent as <c>authorization: Bearer &lt;key&gt;</c> metadata on every call when set.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Sent as the <c>x-sealion-tenant</c> metadata header on every call when set. Chat sessions are scoped to
    /// the caller's tenant: with an API key it is the key's tenant (only an admin key may name another one here, else
    /// the server answers PERMISSION_DENIED); on a keyless development server it is this header, or <c>default</c>.</summary>
    public string? Tenant { get; set; }

    /// <summary>Deadline of each call, counted from its start and covering its retries; null = none. A generation can
    /// override it with <see cref="GenerationOptions.Deadline"/>.</summary>
    public TimeSpan? DefaultDeadline { get; set; }

    /// <summary>How many times a call that fails with UNAVAILABLE (or a transient transport failure) before its first
    /// streamed response is tried again. Default 3; 0 turns retries off.</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>The first backoff delay; each retry doubles it (capped by <see cref="MaxBackoff"/>), with jitter:
    /// the actual delay is drawn uniformly from [d/2, d]. Default 100 ms.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest backoff delay. Default 5 s.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The model requests name (see <see cref="SeaLionClient.ListModelsAsync"/>); null = the cluster's default
    /// model. <see cref="GenerationOptions.Model"/> overrides it per call.</summary>
    public string? Model { get; set; }

    internal void Validate()
    {
        if (Address is null) throw new ArgumentException("SeaLionClientOptions.Address is required", nameof(Address));
        if (!Address.IsAbsoluteUri || (Address.Scheme != Uri.UriSchemeHttp && Address.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException($"SeaLionClientOptions.Address must be an absolute http:// or https:// URI, got '{Address}'", nameof(Address));
        foreach (var a in FallbackAddresses ?? throw new ArgumentException("SeaLionClientOptions.FallbackAddresses must not be null", nameof(FallbackAddresses)))
            if (a is null || !a.IsAbsoluteUri || (a.Scheme != Uri.UriSchemeHttp && a.Scheme != Uri.UriSchemeHttps))
                throw new ArgumentException($"SeaLionClientOptions.FallbackAddresses must hold absolute http:// or https:// URIs, got '{a}'", nameof(FallbackAddresses));
        ValidateCallSettings();
    }

    internal void ValidateCallSettings()
    {
        if (MaxRetries < 0) throw new ArgumentOutOfRangeException(nameof(MaxRetries), MaxRetries, "MaxRetries must be 0 or more");
        if (InitialBackoff < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(InitialBackoff), InitialBackoff, "InitialBackoff must not be negative");
        if (MaxBackoff < InitialBackoff) throw new ArgumentOutOfRangeException(nameof(MaxBackoff), MaxBackoff, "MaxBackoff must be at least InitialBackoff");
        if (DefaultDeadline is { } d && d <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(DefaultDeadline), d, "DefaultDeadline must be positive");
        if (ApiKey is { } key && (key.Length == 0 || key.Any(char.IsControl)))
            throw new ArgumentException("ApiKey must be non-empty and free of control characters", nameof(ApiKey));
        if (Tenant is { Length: 0 }) throw new ArgumentException("Tenant must be null or non-empty", nameof(Tenant));
    }

    internal SeaLionClientOptions Clone()
    {
        var c = (SeaLionClientOptions)MemberwiseClone();
        c.FallbackAddresses = [.. FallbackAddresses ?? []];
        return c;
    }
}
