using System.Text.Json;
using SeaLion.Model;

namespace SeaLion.Model.Tests;

/// <summary>
/// An independent, deliberately naive Llama forward pass in plain C# (double accumulation, HF semantics:
/// rotate_half RoPE, GQA by head index, RMSNorm, SwiGLU), reading F32 safetensors directly. It shares no code
/// with the TorchSharp model beyond the config reader, and is the test oracle for it.
/// </summary>
internal sealed class NaiveLlama
{
    readonly LlamaConfig _c;
    readonly Dictionary<string, float[]> _w = new();

    public NaiveLlama(string dir)
    {
        _c = LlamaConfig.FromDirectory(dir);
        byte[] raw = File.ReadAllBytes(Path.Combine(dir, "model.safetensors"));
        long n = BitConverter.ToInt64(raw, 0);
        using var doc = JsonDocument.Parse(raw.AsMemory(8, (int)n));
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            if (p.Value.GetProperty("dtype").GetString() != "F32") throw new NotSupportedException("naive reference reads F32 only");
            var o = p.Value.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            var f = new float[(o[1] - o[0]) / 4];
            Buffer.BlockCopy(raw, (int)(8 + n + o[0]), f, 0, (int)(o[1] - o[0]));
            _w[p.Name] = f;
        }
    }

    /// <summary>Logits [T][V] for every position of the prompt.</summary>
    public double[][] Forward(int[] ids)
    {
        int H = _c.HiddenSize, NH = _c.NumHeads, NKV = _c.NumKvHeads, D = _c.HeadDim, T = ids.Length, F = _c.IntermediateSize;
        var x = ids.Select(t => Enumerable.Range(0, H).Select(j => (double)_w["model.embed_tokens.weight"][(long)t * H + j]).ToArray()).ToArray();
        for (int l = 0; l < _c.NumLayers; l++)
        {
            string p = $"model.layers.{l}.";
            var h = x.Select(v => Rms(v, _w[p + "input_layernorm.weight"])).ToArray();
            var q = h.Select((v, t) => Rope(MatVec(_w[p + "self_attn.q_proj.weight"], v, NH * D), t, NH)).ToArray();
            var k = h.Select((v, t) => Rope(MatVec(_w[p + "self_attn.k_proj.weight"], v, NKV * D), t, NKV)).ToArray();
            var vv = h.Select(v => MatVec(_w[p + "self_attn.v_proj.weight"], v, NKV * D)).ToArray();
            for (int t = 0; t < T; t++)
            {
                var att = new double[NH * D];
                for (int hd = 0; hd < NH; hd++)
                {
                    int kh = hd / (NH / NKV);
                    var sc = new double[t + 1];
                    for (int u = 0; u <= t; u++)
                    {
                        double s = 0;
                        for (int j = 0; j < D; j++) s += q[t][hd * D + j] * k[u][kh * D + j];
                        sc[u] = s / Math.Sqrt(D);
                    }
                    double m = sc.Max(), z = sc.Sum(s => Math.Exp(s - m));
                    for (int u = 0; u <= t; u++)
                        for (int j = 0; j < D; j++) att[hd * D + j] += Math.Exp(sc[u] - m) / z * vv[u][kh * D + j];
                }
                var o = MatVec(_w[p + "self_attn.o_proj.weight"], att, H);
                for (int j = 0; j < H; j++) x[t][j] += o[j];
            }
            for (int t = 0; t < T; t++)
            {
                var hn = Rms(x[t], _w[p + "post_attention_layernorm.weight"]);
                var g = MatVec(_w[p + "mlp.gate_proj.weight"], hn, F);
                var up = MatVec(_w[p + "mlp.up_proj.weight"], hn, F);
                var a = g.Select((gv, j) => gv / (1 + Math.Exp(-gv)) * up[j]).ToArray();
                var d = MatVec(_w[p + "mlp.down_proj.weight"], a, H);
                for (int j = 0; j < H; j++) x[t][j] += d[j];
            }
        }
        var head = _c.TieWordEmbeddings ? _w["model.embed_tokens.weight"] : _w["lm_head.weight"];
        return x.Select(v => MatVec(head, Rms(v, _w["model.norm.weight"]), _c.VocabSize)).ToArray();
    }

    double[] Rms(double[] v, float[] w)
    {
        double s = Math.Sqrt(v.Sum(a => a * a) / v.Length + _c.RmsNormEps);
        return v.Select((a, j) => a / s * w[j]).ToArray();
    }

    static double[] MatVec(float[] w, double[] v, int rows)
    {
        var o = new double[rows];
        int cols = v.Length;
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            long b = (long)r * cols;
            for (int c = 0; c < cols; c++) s += w[b + c] * v[c];
            o[r] = s;
        }
        return o;
    }

    double[] Rope(double[] v, int pos, int heads)
    {
        int D = _c.HeadDim, half = D / 2;
        var o = (double[])v.Clone();
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < half; j++)
            {
                double f = pos / Math.Pow(_c.RopeTheta, 2.0 * j / D), c = Math.Cos(f), s = Math.Sin(f);
                double a = v[h * D + j], b = v[h * D + j + half];
                o[h * D + j] = a * c - b * s;
                o[h * D + j + half] = b * c + a * s;
            }
        return o;
    }
}
