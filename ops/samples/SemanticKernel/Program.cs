// Semantic Kernel with SeaLion: `./sealion serve` in one terminal, then
//   SEALION_API_KEY=$(cat ~/.cache/sealion/dev-api-key) dotnet run --project ops/samples/SemanticKernel [-- http://127.0.0.1:50051]
// The kernel's chat service is the SeaLion SDK's IChatClient (gRPC); swapping providers is this one registration.
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using SeaLion.Client;

var address = new Uri(args.Length > 0 ? args[0] : Environment.GetEnvironmentVariable("SEALION_ADDRESS") ?? "http://127.0.0.1:50051");
using var sealion = new SeaLionClient(new SeaLionClientOptions { Address = address, ApiKey = Environment.GetEnvironmentVariable("SEALION_API_KEY") });

var builder = Kernel.CreateBuilder();
builder.Services.AddSingleton<IChatCompletionService>(sealion.AsChatClient().AsChatCompletionService());
var kernel = builder.Build();

// A prompt function with a template variable, greedy and short.
var settings = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 48, ["temperature"] = 0.0 } };
var translate = kernel.CreateFunctionFromPrompt("Terjemahkan ke bahasa Inggris, jawab dengan terjemahannya saja: {{$input}}", settings);
var answer = await kernel.InvokeAsync(translate, new KernelArguments(settings) { ["input"] = "Selamat pagi, apa kabar?" });
Console.WriteLine($"invoke:    {answer.GetValue<string>()}");

// The same function streamed.
Console.Write("streaming: ");
await foreach (var part in kernel.InvokeStreamingAsync<StreamingChatMessageContent>(translate, new KernelArguments(settings) { ["input"] = "Terima kasih banyak." }))
    Console.Write(part.Content);
Console.WriteLine();

// A multi-turn chat kept on the server: only the new message is sent each turn (ChatOptions.ConversationId).
IChatClient chat = sealion.AsChatClient();
var options = new ChatOptions { ConversationId = $"sk-sample-{Guid.NewGuid():N}", MaxOutputTokens = 48, Temperature = 0 };
foreach (var line in new[] { "Apa ibu kota Thailand?", "Dan Vietnam?" })
{
    var reply = await chat.GetResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, line)], options);
    Console.WriteLine($"> {line}\n{reply.Text} ({reply.Usage?.InputTokenCount} prompt tokens, {reply.FinishReason})");
}
