using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Prometheus;

namespace SeaLion.Silo;

/// <summary>
/// A silo's /metrics: the sealion_* series, then this engine's queue, running batch and KV-cache usage again under
/// vLLM's names (<c>vllm:num_requests_waiting</c>, <c>vllm:num_requests_running</c>, <c>vllm:kv_cache_usage_perc</c>,
/// and the older <c>vllm:gpu_cache_usage_perc</c>), which the Kubernetes Gateway API Inference Extension's endpoint
/// picker reads by default (its model-server protocol), so an InferencePool can pick these silos without flags.
/// prometheus-net refuses names with a colon (Prometheus' mark of recorded series), so these lines are written here.
/// </summary>
public static class InferenceExtensionMetrics
{
    public static async Task WriteAsync(HttpContext ctx, EngineHost host, string modelName)
    {
        ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(ctx.Response.Body, ctx.RequestAborted);
        var l = host.Engine.Load;
        var sb = new StringBuilder();
        string labels = $"{{model_name=\"{modelName.Replace("\\", "\\\\").Replace("\"", "\\\"")}\"}}";
        void Gauge(string name, string help, double value)
        {
            sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(" gauge\n");
            sb.Append(name).Append(labels).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }
        Gauge("vllm:num_requests_waiting", "Requests waiting to be admitted (= sealion_num_requests_waiting).", l.Waiting);
        Gauge("vllm:num_requests_running", "Requests in the running batch (= sealion_num_requests_running).", l.Running);
        Gauge("vllm:kv_cache_usage_perc", "Fraction of KV-cache blocks in use (= sealion_kv_cache_usage_perc).", l.KvUsage);
        Gauge("vllm:gpu_cache_usage_perc", "The same, under vLLM's older name.", l.KvUsage);
        await ctx.Response.WriteAsync(sb.ToString(), ctx.RequestAborted);
    }
}
