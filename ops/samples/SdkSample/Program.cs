// The SeaLion client SDK in a few lines: list the models, stream a generation, hold a two-turn conversation.
//   dotnet run --project ops/samples/SdkSample -- [--address http://127.0.0.1:50051] [--api-key KEY] [--tenant NAME] [--max-tokens 48]
using SeaLion.Client;

var address = new Uri("http://127.0.0.1:50051");
string? apiKey = null, tenant = null;
int maxTokens = 48;
for (int i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--address": address = new Uri(Value()); break;
        case "--api-key": apiKey = Value(); break;
        case "--tenant": tenant = Value(); break;
        case "--max-tokens": maxTokens = int.Parse(Value()); break;
        case "-h" or "--help":
            Console.WriteLine("usage: SdkSample [--address http://127.0.0.1:50051] [--api-key KEY] [--tenant NAME] [--max-tokens 48]");
            return 0;
        default:
            Console.Error.WriteLine($"unknown argument '{args[i]}' (see --help)");
            return 2;
    }
}

using var client = new SeaLionClient(new SeaLionClientOptions
{
    Address = address,
    ApiKey = apiKey,
    Tenant = tenant,
    DefaultDeadline = TimeSpan.FromMinutes(2),
});
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };

try
{
    foreach (var m in await client.ListModelsAsync(cts.Token))
        Console.WriteLine($"model {m.Name}: context {m.ContextLength}, vocabulary {m.VocabSize}");

    // 1. A streamed generation: print each piece as it arrives.
    Console.WriteLine("\n== Generate");
    var sampling = new GenerationOptions { MaxTokens = maxTokens, Temperature = 0.7, TopP = 0.9, Seed = 42 };
    await foreach (var chunk in client.GenerateAsync("Singapura ialah sebuah negara", sampling, cts.Token))
    {
        Console.Write(chunk.Text);
        if (chunk.FinishReason is { } reason)
            Console.WriteLine($"\n[{reason}; {chunk.Usage!.PromptTokens} prompt tokens, {chunk.Usage.GeneratedTokens} generated]");
    }

    // 2. A two-turn chat: the server keeps the history; turn 2's prompt comes largely from the prefix cache.
    Console.WriteLine("\n== Chat");
    string session = "sdk-sample-" + Guid.NewGuid().ToString("N")[..8];
    var chatOptions = new GenerationOptions { MaxTokens = maxTokens };
    string[] turns = ["Halo! Tolong perkenalkan dirimu dalam dua kalimat.", "Terima kasih. Sekarang dalam bahasa Inggris, ya."];
    for (int t = 0; t < turns.Length; t++)
    {
        Console.WriteLine($"user> {turns[t]}");
        Console.Write("assistant> ");
        var messages = t == 0 ? [ChatMessage.System("Kamu adalah asisten yang ramah."), ChatMessage.User(turns[t])] : new[] { ChatMessage.User(turns[t]) };
        await foreach (var chunk in client.ChatAsync(session, messages, chatOptions, cts.Token))
        {
            Console.Write(chunk.Text);
            if (chunk.Usage is { } usage)
                Console.WriteLine($"\n[{chunk.FinishReason}; prompt {usage.PromptTokens} tokens, {usage.CachedTokens} from the cache]");
        }
    }
    var history = await client.GetSessionAsync(session, cts.Token);
    Console.WriteLine($"\nsession {session} holds {history?.Messages.Count ?? 0} messages; deleted: {await client.DeleteSessionAsync(session, cts.Token)}");
    return 0;
}
catch (SeaLionException e)
{
    Console.Error.WriteLine($"\nerror: {e.Message}");
    return 1;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("\ncancelled");
    return 130;
}
