using SeaLion.Gateway;
using SeaLion.Hosting;

// The gateway image's entry point: `sealion-gateway --redis HOST:PORT ...`, the same options as `sealion gateway`.
NativeHeap.LimitArenas();
if (args is ["help" or "--help" or "-h"])
{
    Console.Out.WriteLine("usage: sealion-gateway " + GatewayCommand.Usage);
    return 0;
}
try
{
    return GatewayCommand.Run(new CliArgs("sealion-gateway", args));
}
catch (UsageException e)
{
    Console.Error.WriteLine($"sealion-gateway: {e.Message}");
    return 2;
}
catch (Exception e) when (e is ArgumentException or InvalidDataException or FileNotFoundException or IOException)
{
    Console.Error.WriteLine($"sealion-gateway: {e.Message}");
    return 1;
}
