using System.ClientModel;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using OpenTelemetry;
using OpenTelemetry.Trace;
using AI = Microsoft.Extensions.AI;
using V1 = SeaLion.Contracts.V1;

namespace SeaLion.Client.Tests;

/// <summary>
/// The SDK as Microsoft.Extensions.AI's IChatClient, and real .NET AI clients against a real host: Semantic Kernel
/// over the SeaLion IChatClient, and M.E.AI's OpenAI client over the REST API.
/// </summary>
[Collection("cluster")]
public sealed class ChatClientTests(ClusterFixture cluster)
{
    static readonly AI.ChatMessage[] Hello = [new(ChatRole.System, "Jawab singkat."), new(ChatRole.User, "Apa kabar?")];

    [Fact]
    public async Task GetResponse_and_streaming_carry_text_finish_reason_usage_and_options()
    {
        using var sdk = cluster.NewClient();
        IChatClient chat = sdk.AsChatClient();
        var options = new ChatOptions { MaxOutputTokens = 6, Temperature = 0, Seed = 5, StopSequences = ["\n\n"] };
        var response = await chat.GetResponseAsync(Hello, options);
        Assert.Equal(ChatRole.Assistant, response.Messages.Single().Role);
        Assert.False(string.IsNullOrEmpty(response.Text));
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(6, response.Usage!.OutputTokenCount);
        Assert.True(response.Usage.InputTokenCount > 5);
        Assert.Equal(response.Usage.InputTokenCount + 6, response.Usage.TotalTokenCount);
        Assert.NotNull(response.ResponseId);

        // Streaming: every update is the assistant's, the last has the finish reason and the usage; the same seed gives the same text.
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in chat.GetStreamingResponseAsync(Hello, options)) updates.Add(u);
        Assert.All(updates, u => Assert.Equal(ChatRole.Assistant, u.Role));
        Assert.Equal(ChatFinishReason.Length, updates[^1].FinishReason);
        Assert.Equal(6, updates[^1].Contents.OfType<UsageContent>().Single().Details.OutputTokenCount);
        var combined = updates.ToChatResponse();   // M.E.AI's own coalescing, as its middleware does
        Assert.Equal(response.Text, combined.Text);
        Assert.Equal(6, combined.Usage!.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, combined.FinishReason);
        Assert.Equal("sealion", chat.GetService<ChatClientMetadata>()!.ProviderName);
    }

    [Fact]
    public async Task A_conversation_id_is_a_server_side_session_that_needs_only_the_new_messages()
    {
        using var sdk = cluster.NewClient();
        IChatClient chat = sdk.AsChatClient();
        string id = "meai-" + Guid.NewGuid().ToString("N")[..8];
        var options = new ChatOptions { ConversationId = id, MaxOutputTokens = 3, Temperature = 0 };
        var first = await chat.GetResponseAsync([new AI.ChatMessage(ChatRole.User, "Halo")], options);
        Assert.Equal(id, first.ConversationId);
        var second = await chat.GetResponseAsync([new AI.ChatMessage(ChatRole.User, "Lanjut")], options);
        var session = await sdk.GetSessionAsync(id);
        Assert.Equal(["user", "assistant", "user", "assistant"], session!.Messages.Select(m => m.Role));
        Assert.Equal(first.Text, session.Messages[1].Content);
        Assert.Equal(second.Text, session.Messages[3].Content);
        Assert.True(second.Usage!.InputTokenCount > first.Usage!.InputTokenCount);   // the history was rendered server-side
    }

    [Fact]
    public async Task Options_the_server_cannot_honour_are_refused_by_name()
    {
        using var sdk = cluster.NewClient();
        IChatClient chat = sdk.AsChatClient();
        async Task Refused(ChatOptions o, string name)
        {
            var e = await Assert.ThrowsAsync<SeaLionException>(() => chat.GetResponseAsync(Hello, o));
            Assert.Equal(SeaLionStatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains(name, e.Message);
        }
        await Refused(new ChatOptions { Tools = [AIFunctionFactory.Create(() => 1, "one")] }, "ChatOptions.Tools");
        await Refused(new ChatOptions { AdditionalProperties = new() { ["min_tokens"] = 3 } }, "min_tokens");
        await Refused(new ChatOptions { AllowBackgroundResponses = true }, "AllowBackgroundResponses");
        var e = await Assert.ThrowsAsync<SeaLionException>(() => chat.GetResponseAsync([new AI.ChatMessage(ChatRole.Tool, "x")]));
        Assert.Contains("Role 'tool'", e.Message);
        // The server's own refusals surface as the SDK's exceptions too.
        var bad = await Assert.ThrowsAsync<SeaLionException>(() => chat.GetResponseAsync(Hello, new ChatOptions { Temperature = -1 }));
        Assert.Equal(SeaLionStatusCode.InvalidArgument, bad.StatusCode);
    }

    [Fact]
    public async Task Registration_composes_with_middleware_a_cached_reply_does_not_reach_the_server()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IDistributedCache>(new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions())));
        services.AddSeaLionChatClient(o => { o.Address = cluster.Address; o.Tenant = "cache-test"; })
            .UseDistributedCache()
            .UseLogging()
            .UseOpenTelemetry();
        await using var sp = services.BuildServiceProvider();
        var chat = sp.GetRequiredService<IChatClient>();
        var options = new ChatOptions { MaxOutputTokens = 4, Temperature = 0, Seed = 1 };
        int before = cluster.CallsFor("cache-test");
        var a = await chat.GetResponseAsync(Hello, options);
        var b = await chat.GetResponseAsync(Hello, options);
        Assert.Equal(a.Text, b.Text);
        Assert.Equal(before + 1, cluster.CallsFor("cache-test"));   // the second came from the cache
        Assert.NotNull(chat.GetService<SeaLionChatClient>());
    }

    [Fact]
    public async Task Semantic_kernel_runs_a_prompt_function_and_streams_over_the_sealion_chat_client()
    {
        using var sdk = cluster.NewClient();
        var builder = Kernel.CreateBuilder();
        builder.Services.AddSingleton<IChatCompletionService>(sdk.AsChatClient().AsChatCompletionService());
        var kernel = builder.Build();
        var settings = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 5, ["temperature"] = 0.0 } };
        var fn = kernel.CreateFunctionFromPrompt("Terjemahkan ke bahasa Inggris: {{$input}}", settings);
        var result = await kernel.InvokeAsync(fn, new KernelArguments(settings) { ["input"] = "selamat pagi" });
        string text = result.GetValue<string>()!;
        Assert.False(string.IsNullOrEmpty(text));
        var streamed = new StringBuilder();
        await foreach (var part in kernel.InvokeStreamingAsync<StreamingChatMessageContent>(fn, new KernelArguments(settings) { ["input"] = "selamat pagi" }))
            streamed.Append(part.Content);
        Assert.Equal(text, streamed.ToString());   // greedy: the same reply either way
    }

    [Fact]
    public async Task The_openai_chat_client_of_microsoft_extensions_ai_talks_to_the_rest_api()
    {
        var openai = new OpenAI.Chat.ChatClient("sea-lion-v2", new ApiKeyCredential("unused"),
            new OpenAI.OpenAIClientOptions { Endpoint = new Uri($"http://127.0.0.1:{cluster.HttpPort}/v1") });
        IChatClient chat = openai.AsIChatClient();
        var options = new ChatOptions { MaxOutputTokens = 5, Temperature = 0, Seed = 2 };
        var response = await chat.GetResponseAsync(Hello, options);
        Assert.False(string.IsNullOrEmpty(response.Text));
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(5, response.Usage!.OutputTokenCount);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in chat.GetStreamingResponseAsync(Hello, options)) updates.Add(u);
        Assert.Equal(response.Text, updates.ToChatResponse().Text);
        // The same conversation through the SeaLion IChatClient over gRPC gives the same greedy reply.
        using var sdk = cluster.NewClient();
        Assert.Equal(response.Text, (await sdk.AsChatClient().GetResponseAsync(Hello, options)).Text);
    }
}

/// <summary>A client's trace context through gRPC and REST, the grain call and the engine, captured in process.</summary>
[Collection("cluster")]
public sealed class TracingTests(ClusterFixture cluster)
{
    [Fact]
    public async Task A_traceparent_from_the_client_parents_the_gateway_grain_and_engine_spans()
    {
        var spans = new List<Activity>();
        using (var provider = Sdk.CreateTracerProviderBuilder().AddSource(SeaLion.Hosting.Telemetry.Sources).AddAspNetCoreInstrumentation().AddInMemoryExporter(spans).Build())
        {
            var grpcTrace = ActivityTraceId.CreateRandom();
            var grpcParent = ActivitySpanId.CreateRandom();
            using (var channel = GrpcChannel.ForAddress(cluster.Address))
            {
                var client = new V1.Inference.InferenceClient(channel);
                var headers = new Metadata { { "traceparent", $"00-{grpcTrace}-{grpcParent}-01" } };
                var req = new V1.GenerateRequest { Text = "Halo", Sampling = new V1.SamplingParams { MaxTokens = 3 } };
                using var call = client.Generate(req, headers);
                await foreach (var _ in call.ResponseStream.ReadAllAsync()) { }
            }
            var restTrace = ActivityTraceId.CreateRandom();
            var restParent = ActivitySpanId.CreateRandom();
            using (var http = new HttpClient())
            {
                var msg = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{cluster.HttpPort}/v1/completions")
                {
                    Content = new StringContent("{\"model\":\"sea-lion-v2\",\"prompt\":\"Halo\",\"max_tokens\":3}", Encoding.UTF8, "application/json"),
                };
                msg.Headers.TryAddWithoutValidation("traceparent", $"00-{restTrace}-{restParent}-01");
                (await http.SendAsync(msg)).EnsureSuccessStatusCode();
            }
            provider.ForceFlush();
            foreach (var (trace, parent, path) in new[] { (grpcTrace, grpcParent, "grpc"), (restTrace, restParent, "rest") })
            {
                var inTrace = spans.Where(s => s.TraceId == trace).ToList();
                var byId = inTrace.ToDictionary(s => s.SpanId);
                var server = inTrace.Single(s => s.Kind == ActivityKind.Server && s.ParentSpanId == parent);
                var engine = inTrace.Single(s => s.OperationName == "engine.generate");
                // The engine span's ancestors: a grain call of Orleans', then the gateway's server span, then the client's.
                var chain = new List<Activity>();
                for (var s = engine; byId.TryGetValue(s.ParentSpanId, out var up); s = up) chain.Add(up);
                Assert.True(chain.Contains(server), $"{path}: the engine span does not descend from the request's server span: {Describe(inTrace)}");
                Assert.Contains(chain, s => s.Source.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal));
                Assert.Equal(3, Convert.ToInt32(engine.GetTagItem("gen_ai.usage.output_tokens")));
                Assert.NotNull(engine.GetTagItem("sealion.queue_time_s"));
                Assert.NotNull(engine.GetTagItem("sealion.time_to_first_token_s"));
            }
        }
    }

    static string Describe(List<Activity> spans) => string.Join("; ", spans.Select(s => $"{s.Source.Name}/{s.OperationName} {s.SpanId}<-{s.ParentSpanId}"));
}
