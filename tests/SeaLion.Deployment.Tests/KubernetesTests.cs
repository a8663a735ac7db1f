using System.Globalization;
using YamlDotNet.RepresentationModel;
using static SeaLion.Deployment.Tests.Manifests;

namespace SeaLion.Deployment.Tests;

/// <summary>Every overlay under ops/k8s, rendered and checked: schema (the Kubernetes client's models), then meaning.</summary>
public sealed class KubernetesTests
{
    public static TheoryData<string> AllOverlays => new(Overlays);

    [Theory]
    [MemberData(nameof(AllOverlays))]
    public void Every_builtin_object_parses_strictly_and_survives_a_round_trip_unchanged(string overlay)
    {
        int typed = 0;
        foreach (var (kind, name, tree, text) in Documents(overlay))
        {
            var model = TypedModel(Scalar(tree, "apiVersion")!, kind);
            if (model is null) continue;
            typed++;
            YamlMappingNode back;
            try { back = RoundTrip(text, model); }
            catch (Exception e) { throw new Xunit.Sdk.XunitException($"{overlay}: {kind}/{name} does not parse as {model.Name}: {(e.InnerException ?? e).Message}"); }
            var lost = Paths(tree).Except(Paths(back)).ToArray();
            Assert.True(lost.Length == 0, $"{overlay}: {kind}/{name}: fields the Kubernetes API does not know: {string.Join(", ", lost)}");
        }
        Assert.True(typed >= 12, $"{overlay}: only {typed} built-in objects");
    }

    [Theory]
    [MemberData(nameof(AllOverlays))]
    public void Custom_resources_are_well_formed(string overlay)
    {
        var docs = Documents(overlay);
        foreach (var (kind, name, tree, _) in docs.Where(d => TypedModel(Scalar(d.Tree, "apiVersion")!, d.Kind) is null))
        {
            switch (kind)
            {
                case "ServiceMonitor":
                    Assert.Equal("monitoring.coreos.com/v1", Scalar(tree, "apiVersion"));
                    Assert.All(Items(tree, "spec", "endpoints"), e => Assert.Equal("/metrics", Scalar(e, "path")));
                    Assert.All(Items(tree, "spec", "endpoints"), e => Assert.Contains(docs, d => d.Kind == "Service" && Items(d.Tree, "spec", "ports").Any(p => Scalar(p, "name") == Scalar(e, "port"))));
                    break;
                case "ScaledObject":
                    Assert.Equal("keda.sh/v1alpha1", Scalar(tree, "apiVersion"));
                    Assert.Contains(docs, d => d.Kind == "Deployment" && d.Name == Scalar(tree, "spec", "scaleTargetRef", "name"));
                    var trigger = Items(tree, "spec", "triggers").Single();
                    Assert.Equal("prometheus", Scalar(trigger, "type"));
                    Assert.Contains("sealion_num_requests_waiting", Scalar(trigger, "metadata", "query"));
                    Assert.True(int.Parse(Scalar(tree, "spec", "advanced", "horizontalPodAutoscalerConfig", "behavior", "scaleDown", "stabilizationWindowSeconds")!) >= 300);
                    Assert.DoesNotContain(docs, d => d.Kind == "HorizontalPodAutoscaler" && d.Name == Scalar(tree, "spec", "scaleTargetRef", "name"));
                    break;
                default:
                    throw new Xunit.Sdk.XunitException($"{overlay}: unexpected custom resource {kind}/{name}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(AllOverlays))]
    public void Selectors_match_the_pods_they_select(string overlay)
    {
        var docs = Documents(overlay);
        var pods = docs.Where(d => d.Kind is "Deployment" or "StatefulSet" or "Job").Select(d => (d.Name, Labels: Map(d.Tree, "spec", "template", "metadata", "labels"))).ToList();
        static bool Covers(Dictionary<string, string> labels, Dictionary<string, string> selector) => selector.Count > 0 && selector.All(kv => labels.GetValueOrDefault(kv.Key) == kv.Value);
        foreach (var (kind, name, tree, _) in docs)
        {
            var selector = kind switch
            {
                "Deployment" or "StatefulSet" or "PodDisruptionBudget" => Map(tree, "spec", "selector", "matchLabels"),
                "Service" => Map(tree, "spec", "selector"),
                _ => null,
            };
            if (selector is null) continue;
            if (kind is "Deployment" or "StatefulSet")
                Assert.True(Covers(Map(tree, "spec", "template", "metadata", "labels"), selector), $"{overlay}: {kind}/{name}'s selector does not match its own pods");
            else
                Assert.True(pods.Any(p => Covers(p.Labels, selector)), $"{overlay}: {kind}/{name} selects no pods ({string.Join(",", selector)})");
        }
        foreach (var hpa in docs.Where(d => d.Kind == "HorizontalPodAutoscaler"))
            Assert.Contains(docs, d => d.Kind == Scalar(hpa.Tree, "spec", "scaleTargetRef", "kind") && d.Name == Scalar(hpa.Tree, "spec", "scaleTargetRef", "name"));
    }

    /// <summary>The container's value of a --flag in its args, with $(VAR) taken from the ConfigMap it loads.</summary>
    static string? Arg(YamlNode container, Dictionary<string, string> config, string flag)
    {
        var args = Items(container, "args").Select(a => ((YamlScalarNode)a).Value!).ToList();
        int i = args.IndexOf(flag);
        if (i < 0 || i + 1 >= args.Count) return null;
        string v = args[i + 1];
        return v.StartsWith("$(", StringComparison.Ordinal) ? config.GetValueOrDefault(v[2..^1], v) : v;
    }

    [Theory]
    [MemberData(nameof(AllOverlays))]
    public void Probes_and_ports_are_the_ones_the_processes_serve(string overlay)
    {
        var docs = Documents(overlay);
        var config = Config(docs);
        foreach (var d in docs.Where(d => d.Name is "sealion-silo" or "sealion-gateway" && d.Kind == "Deployment"))
        {
            var c = Items(d.Tree, "spec", "template", "spec", "containers").Single();
            var ports = Items(c, "ports").ToDictionary(p => Scalar(p, "name")!, p => Scalar(p, "containerPort")!);
            // The ports the process is told to use are the ports the pod declares.
            Assert.Equal(ports["http"], Arg(c, config, "--http-port"));
            if (d.Name == "sealion-silo")
            {
                Assert.Equal(ports["silo"], Arg(c, config, "--silo-port"));
                Assert.Equal(ports["orleans-gw"], Arg(c, config, "--gateway-port"));
                Assert.Equal("0.0.0.0", Arg(c, config, "--host"));
                Assert.Equal("$(POD_IP)", Items(c, "args").Select(a => ((YamlScalarNode)a).Value).SkipWhile(a => a != "--advertise-address").ElementAtOrDefault(1));
                Assert.Contains(Items(c, "env"), e => Scalar(e, "name") == "POD_IP" && Scalar(e, "valueFrom", "fieldRef", "fieldPath") == "status.podIP");
            }
            else Assert.Equal(ports["grpc"], Arg(c, config, "--grpc-port"));
            // Readiness on /healthz (not ready while loading, draining or without an engine), liveness on /livez: the
            // routes both hosts map (SiloHost.Build, GatewayHosting.MapSeaLionGateway).
            Assert.Equal("/healthz", Scalar(c, "readinessProbe", "httpGet", "path"));
            Assert.Equal("/livez", Scalar(c, "livenessProbe", "httpGet", "path"));
            foreach (var probe in new[] { "readinessProbe", "livenessProbe", "startupProbe" })
                if (Node(c, probe) is { } p) Assert.True(ports.ContainsKey(Scalar(p, "httpGet", "port")!), $"{d.Name} {probe} names a port the pod does not declare");
            Assert.Equal("true", Scalar(d.Tree, "spec", "template", "spec", "securityContext", "runAsNonRoot"));
        }
    }

    /// <summary>The flags of the ConfigMap every SeaLion container loads (what its $(VAR) arguments expand to).</summary>
    static Dictionary<string, string> Config(List<(string Kind, string Name, YamlMappingNode Tree, string Text)> docs) =>
        Map(docs.Single(d => d.Kind == "ConfigMap" && d.Name == "sealion-config").Tree, "data");

    /// <summary>The grace period must cover the preStop pause, the drain and Orleans' shutdown; null when it does.</summary>
    internal static string? GraceProblem(YamlNode silo, Dictionary<string, string> config)
    {
        var pod = Node(silo, "spec", "template", "spec")!;
        var c = Items(pod, "containers").Single();
        int grace = int.Parse(Scalar(pod, "terminationGracePeriodSeconds") ?? "30", CultureInfo.InvariantCulture);
        int drain = int.Parse(Arg(c, config, "--drain-timeout-s") ?? "30", CultureInfo.InvariantCulture);
        var sleep = Items(c, "lifecycle", "preStop", "exec", "command").Select(x => ((YamlScalarNode)x).Value).ToList();
        int pause = sleep is ["sleep", var s] ? int.Parse(s!, CultureInfo.InvariantCulture) : 0;
        const int orleans = 30;
        return grace < pause + drain + orleans
            ? $"terminationGracePeriodSeconds {grace} is shorter than the preStop pause ({pause} s) + the drain timeout (--drain-timeout-s {drain}) + Orleans' shutdown ({orleans} s) = {pause + drain + orleans} s: Kubernetes would kill a draining silo"
            : null;
    }

    [Theory]
    [MemberData(nameof(AllOverlays))]
    public void The_silo_grace_period_covers_the_pause_the_drain_and_the_shutdown_and_a_short_one_is_refused(string overlay)
    {
        var docs = Documents(overlay);
        var config = Config(docs);
        var silo = docs.Single(d => d.Kind == "Deployment" && d.Name == "sealion-silo").Tree;
        Assert.Null(GraceProblem(silo, config));
        Assert.Equal("sleep", Scalar(Items(silo, "spec", "template", "spec", "containers").Single(), "lifecycle", "preStop", "exec", "command") ?? "sleep");
        // The check bites: the same silo with a grace period shorter than the drain is refused, naming the settings.
        var stream = new YamlStream();
        stream.Load(new StringReader(docs.Single(d => d.Kind == "Deployment" && d.Name == "sealion-silo").Text.Replace("terminationGracePeriodSeconds: 80", "terminationGracePeriodSeconds: 20")));
        string? problem = GraceProblem(stream.Documents[0].RootNode, config);
        Assert.NotNull(problem);
        Assert.Contains("terminationGracePeriodSeconds 20", problem);
        Assert.Contains("--drain-timeout-s 30", problem);
    }

    [Theory]
    [MemberData(nameof(AllOverlays))]
    public void Gpu_resources_appear_only_in_the_gpu_overlays(string overlay)
    {
        string yaml = Render(overlay);
        if (overlay.StartsWith("gpu", StringComparison.Ordinal))
        {
            var silo = Documents(overlay).Single(d => d.Kind == "Deployment" && d.Name == "sealion-silo").Tree;
            var pod = Node(silo, "spec", "template", "spec")!;
            Assert.Equal("8", Map(Items(pod, "containers").Single(), "resources", "limits").GetValueOrDefault("nvidia.com/gpu"));
            Assert.Contains(Items(pod, "tolerations"), t => Scalar(t, "key") == "nvidia.com/gpu");
            Assert.NotNull(Node(pod, "affinity", "nodeAffinity"));
            Assert.Contains("sealion-silo-cuda", yaml);
            Assert.DoesNotContain(Documents(overlay), d => d.Kind == "Job" && d.Name == "sealion-model-fill");   // no random weights on GPU hosts
        }
        else
        {
            Assert.DoesNotContain("nvidia.com/gpu", yaml);
            Assert.DoesNotContain("tolerations", yaml);
            Assert.DoesNotContain("sealion-silo-cuda", yaml);
        }
    }

    [Theory]
    [MemberData(nameof(AllOverlays))]
    public void Silos_scale_on_waiting_requests_with_a_slow_scale_down_and_gateways_on_cpu(string overlay)
    {
        var docs = Documents(overlay);
        var silo = docs.SingleOrDefault(d => d.Kind == "HorizontalPodAutoscaler" && d.Name == "sealion-silo");
        if (overlay == "gpu-keda") { Assert.Null(silo.Tree); return; }   // KEDA's ScaledObject instead (checked above)
        var metric = Items(silo.Tree, "spec", "metrics").Single();
        Assert.Equal("Pods", Scalar(metric, "type"));
        Assert.Equal("sealion_num_requests_waiting", Scalar(metric, "pods", "metric", "name"));
        Assert.True(int.Parse(Scalar(silo.Tree, "spec", "behavior", "scaleDown", "stabilizationWindowSeconds")!) >= 300);
        // prometheus-adapter serves that metric per pod, from the silos' series of the same name.
        string rules = Scalar(docs.Single(d => d.Kind == "ConfigMap" && d.Name == "sealion-prometheus-adapter-rules").Tree, "data", "config.yaml")!;
        Assert.Contains("seriesQuery: 'sealion_num_requests_waiting{namespace!=\"\",pod!=\"\"}'", rules);
        Assert.Contains("as: \"sealion_num_requests_waiting\"", rules);
        var gateway = docs.Single(d => d.Kind == "HorizontalPodAutoscaler" && d.Name == "sealion-gateway");
        Assert.Equal("cpu", Scalar(Items(gateway.Tree, "spec", "metrics").Single(), "resource", "name"));
    }

    [Fact]
    public void Redis_persists_with_an_append_only_file_fsynced_every_second()
    {
        var redis = Documents("cpu-sim").Single(d => d.Kind == "StatefulSet" && d.Name == "sealion-redis").Tree;
        var args = Items(Items(redis, "spec", "template", "spec", "containers").Single(), "args").Select(a => ((YamlScalarNode)a).Value).ToList();
        Assert.Equal("yes", args[args.IndexOf("--appendonly") + 1]);
        Assert.Equal("everysec", args[args.IndexOf("--appendfsync") + 1]);
        Assert.NotEmpty(Items(redis, "spec", "volumeClaimTemplates"));
    }
}
