using System.Diagnostics;
using k8s;
using YamlDotNet.RepresentationModel;

namespace SeaLion.Deployment.Tests;

/// <summary>The repository, the overlays rendered by kubectl, and their documents as YAML trees.</summary>
static class Manifests
{
    public static readonly string Root = FindRoot();
    public static readonly string[] Overlays = ["cpu-sim", "gpu", "gpu-keda"];

    static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "SeaLion.Cluster.sln"))) return d.FullName;
        throw new InvalidOperationException("SeaLion.Cluster.sln not found above " + AppContext.BaseDirectory);
    }

    static readonly Dictionary<string, string> Rendered = [];

    /// <summary>`kubectl kustomize ops/k8s/overlays/NAME` (offline: kustomize needs no API server).</summary>
    public static string Render(string overlay)
    {
        lock (Rendered)
        {
            if (Rendered.TryGetValue(overlay, out var y)) return y;
            var psi = new ProcessStartInfo("kubectl", $"kustomize {Path.Combine(Root, "ops", "k8s", "overlays", overlay)}")
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            Process p;
            try { p = Process.Start(psi)!; }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new InvalidOperationException("kubectl is not on PATH: apt-get install -y kubernetes-client, or run ./sealion test, which does", e);
            }
            var stdout = p.StandardOutput.ReadToEndAsync();
            string stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"kubectl kustomize {overlay} failed: {stderr}");
            return Rendered[overlay] = stdout.Result;
        }
    }

    /// <summary>Each rendered document: its kind, name and tree.</summary>
    public static List<(string Kind, string Name, YamlMappingNode Tree, string Text)> Documents(string overlay)
    {
        var list = new List<(string, string, YamlMappingNode, string)>();
        foreach (var text in Render(overlay).Split("\n---\n"))
        {
            if (string.IsNullOrWhiteSpace(text)) continue;
            var stream = new YamlStream();
            stream.Load(new StringReader(text));
            var tree = (YamlMappingNode)stream.Documents[0].RootNode;
            list.Add((Scalar(tree, "kind")!, Scalar(tree, "metadata", "name")!, tree, text));
        }
        return list;
    }

    public static YamlNode? Node(YamlNode? n, params string[] path)
    {
        foreach (var key in path)
        {
            if (n is not YamlMappingNode m || !m.Children.TryGetValue(new YamlScalarNode(key), out n)) return null;
        }
        return n;
    }

    public static string? Scalar(YamlNode? n, params string[] path) => (Node(n, path) as YamlScalarNode)?.Value;

    public static IEnumerable<YamlNode> Items(YamlNode? n, params string[] path) => Node(n, path) is YamlSequenceNode s ? s.Children : [];

    public static Dictionary<string, string> Map(YamlNode? n, params string[] path) =>
        Node(n, path) is YamlMappingNode m ? m.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => (kv.Value as YamlScalarNode)?.Value ?? "") : [];

    /// <summary>Every key path of a tree ("spec.template.spec.containers[].ports[].name"), for the round trip.</summary>
    public static SortedSet<string> Paths(YamlNode n, string prefix = "")
    {
        var set = new SortedSet<string>(StringComparer.Ordinal);
        switch (n)
        {
            case YamlMappingNode m:
                foreach (var (k, v) in m.Children)
                {
                    string p = prefix.Length == 0 ? ((YamlScalarNode)k).Value! : prefix + "." + ((YamlScalarNode)k).Value;
                    set.Add(p);
                    set.UnionWith(Paths(v, p));
                }
                break;
            case YamlSequenceNode s:
                foreach (var c in s.Children) set.UnionWith(Paths(c, prefix + "[]"));
                break;
        }
        return set;
    }

    /// <summary>The Kubernetes client's typed model of a built-in kind, or null for a kind it does not model (a CRD).</summary>
    public static Type? TypedModel(string apiVersion, string kind) => (apiVersion, kind) switch
    {
        ("v1", "Namespace") => typeof(k8s.Models.V1Namespace),
        ("v1", "ConfigMap") => typeof(k8s.Models.V1ConfigMap),
        ("v1", "Secret") => typeof(k8s.Models.V1Secret),
        ("v1", "Service") => typeof(k8s.Models.V1Service),
        ("v1", "PersistentVolumeClaim") => typeof(k8s.Models.V1PersistentVolumeClaim),
        ("apps/v1", "Deployment") => typeof(k8s.Models.V1Deployment),
        ("apps/v1", "StatefulSet") => typeof(k8s.Models.V1StatefulSet),
        ("batch/v1", "Job") => typeof(k8s.Models.V1Job),
        ("policy/v1", "PodDisruptionBudget") => typeof(k8s.Models.V1PodDisruptionBudget),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => typeof(k8s.Models.V2HorizontalPodAutoscaler),
        _ => null,
    };

    /// <summary>Parses a document into its typed model and writes it back: what the model does not know is gone.</summary>
    public static YamlMappingNode RoundTrip(string text, Type model)
    {
        var typed = typeof(KubernetesYaml).GetMethods().Single(m => m.Name == "Deserialize" && m.IsGenericMethodDefinition
                && m.GetParameters() is [{ ParameterType: var t }, ..] && t == typeof(string))
            .MakeGenericMethod(model).Invoke(null, [text, true])!;   // strict: an unknown field throws
        var stream = new YamlStream();
        stream.Load(new StringReader(KubernetesYaml.Serialize(typed)));
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }
}
