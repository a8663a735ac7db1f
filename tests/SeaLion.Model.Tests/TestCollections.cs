namespace SeaLion.Model.Tests;

/// <summary>Tests that run models share the two cores one at a time: parallel torch work oversubscribes them.</summary>
[CollectionDefinition("torch", DisableParallelization = true)]
public sealed class TorchCollection;
