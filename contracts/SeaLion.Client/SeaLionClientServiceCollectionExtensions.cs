using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using SeaLion.Client;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="SeaLionClient"/> with a service collection.</summary>
public static class SeaLionClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="SeaLionClientOptions"/> (as <see cref="IOptions{TOptions}"/>, configured by
    /// <paramref name="configure"/>) and one shared <see cref="SeaLionClient"/> built from them, disposed with the
    /// container. Calling it again adds another configuration step to the same options.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the address, API key, tenant, deadline, retries and model.</param>
    /// <returns>The service collection, for chaining.</returns>
    public static IServiceCollection AddSeaLionClient(this IServiceCollection services, Action<SeaLionClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<SeaLionClientOptions>().Configure(configure);
        services.TryAddSingleton(sp => new SeaLionClient(sp.GetRequiredService<IOptions<SeaLionClientOptions>>().Value));
        return services;
    }
}
