using System.Buffers;
using System.Text.Unicode;

namespace SeaLion.Tokenization;

/// <summary>
/// Turns a stream of generated token ids into text as it becomes complete. Invariant: the concatenation
/// of every Push result and the final Flush equals <see cref="BpeTokenizer.Decode"/> of the whole id
/// sequence (with the same skipSpecialTokens). Only a trailing byte sequence that is still a valid
/// prefix of a UTF-8 character is held back; a sequence that can no longer become valid is emitted as
/// U+FFFD at once, one per maximal ill-formed subpart, exactly where Rust's from_utf8_lossy puts it.
/// One instance per sequence; not thread-safe.
/// </summary>
public sealed class IncrementalDetokenizer
{
    private readonly BpeTokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private byte[] _pending = new byte[16];
    private int _pendingLength;

    internal IncrementalDetokenizer(BpeTokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Adds one token; returns the text completed by it (possibly empty).</summary>
    public string Push(int tokenId)
    {
        _tokenizer.CheckId(tokenId);
        if (_skipSpecialTokens && _tokenizer.IsSpecialUnchecked(tokenId)) return string.Empty;
        ReadOnlySpan<byte> bytes = _tokenizer.TokenBytesUnsafe(tokenId);
        if (_pendingLength + bytes.Length > _pending.Length)
            Array.Resize(ref _pending, Math.Max(_pending.Length * 2, _pendingLength + bytes.Length));
        bytes.CopyTo(_pending.AsSpan(_pendingLength));
        _pendingLength += bytes.Length;
        return DecodePending(isFinalBlock: false);
    }

    /// <summary>End of stream: returns whatever is held, lossily decoded, and resets.</summary>
    public string Flush() => DecodePending(isFinalBlock: true);

    private string DecodePending(bool isFinalBlock)
    {
        if (_pendingLength == 0) return string.Empty;
        // Each input byte yields at most one UTF-16 unit (a 4-byte scalar yields two).
        char[] chars = ArrayPool<char>.Shared.Rent(_pendingLength);
        try
        {
            Utf8.ToUtf16(_pending.AsSpan(0, _pendingLength), chars, out int read, out int written,
                replaceInvalidSequences: true, isFinalBlock: isFinalBlock);
            _pending.AsSpan(read, _pendingLength - read).CopyTo(_pending);
            _pendingLength -= read;
            return written == 0 ? string.Empty : new string(chars, 0, written);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }
}
