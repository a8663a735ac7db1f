namespace SeaLion.Templates;

/// <summary>One chat turn as the template sees it: messages[i]['role'] and messages[i]['content'].</summary>
public sealed record ChatMessage(string Role, string Content);
