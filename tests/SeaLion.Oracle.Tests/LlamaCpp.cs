using System.Text;
using LLama;
using LLama.Common;
using LLama.Native;

namespace SeaLion.Oracle.Tests;

/// <summary>
/// llama.cpp through LLamaSharp: CPU only, 2 threads, F32 KV cache, flash attention off, logging silenced.
/// Flash attention must be off for an F32 oracle: with it (llama.cpp's default is auto, which picks it on CPU)
/// the graph casts K and V to F16 before attention, and the logits drift from an exact pass by ~1e-2 of
/// their scale instead of ~1e-5.
/// </summary>
public static class LlamaCpp
{
    // Kept in a field: the native side holds the callback for the life of the process.
    static readonly NativeLogConfig.LLamaLogCallback Silent = (_, _) => { };

    static LlamaCpp() => NativeLogConfig.llama_log_set(Silent);

    static ModelParams Params(string gguf, int contextSize, bool vocabOnly = false) => new(gguf)
    {
        ContextSize = (uint)contextSize,
        BatchSize = (uint)contextSize,
        UBatchSize = (uint)contextSize,
        GpuLayerCount = 0,
        Threads = 2,
        BatchThreads = 2,
        TypeK = GGMLType.GGML_TYPE_F32,
        TypeV = GGMLType.GGML_TYPE_F32,
        VocabOnly = vocabOnly,
        FlashAttention = false,
    };

    /// <summary>Logits [position][vocab] of every token of <paramref name="ids"/>, decoded as one batch.</summary>
    public static float[][] AllLogits(string gguf, int[] ids)
    {
        var p = Params(gguf, contextSize: Math.Max(256, ids.Length));
        using var weights = LLamaWeights.LoadFromFile(p);
        using var ctx = weights.CreateContext(p);
        var batch = new LLamaBatch();
        for (int i = 0; i < ids.Length; i++) batch.Add((LLamaToken)ids[i], i, LLamaSeqId.Zero, true);
        var result = ctx.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {result}");
        return Enumerable.Range(0, ids.Length).Select(i => ctx.NativeHandle.GetLogitsIth(i).ToArray()).ToArray();
    }

    /// <summary>
    /// llama.cpp's own quantizer (as its llama-quantize tool), the output tensor quantized too as in published files.
    /// "F32" from a quantized file writes ggml's own dequantization of every tensor.
    /// </summary>
    public static void Quantize(string src, string dst, string type)
    {
        NativeApi.llama_empty_call();   // loads the native library through LLamaSharp's resolver (the quantizer alone does not)
        var ftype = Enum.Parse<LLamaFtype>(type == "F32" ? "ALL_F32" : "MOSTLY_" + type);
        if (!LLamaQuantizer.Quantize(src, dst, ftype, 2, allowRequantize: true, quantizeOutputTensor: true))
            throw new InvalidOperationException($"llama.cpp could not quantize {src} to {type}");
    }

    /// <summary>A vocabulary-only model for tokenizing.</summary>
    public static LLamaWeights LoadVocab(string gguf) => LLamaWeights.LoadFromFile(Params(gguf, 256, vocabOnly: true));

    /// <summary>llama.cpp's tokenization: no BOS, special-token strings parsed (as Tokenize(text, false, true)).</summary>
    public static int[] Tokenize(LLamaWeights vocab, string text) =>
        vocab.Tokenize(text, false, true, Encoding.UTF8).Select(t => (int)t).ToArray();
}
