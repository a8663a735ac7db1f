namespace SeaLion.Tokenization;

/// <summary>
/// GPT-2's reversible byte-to-unicode map used by byte-level BPE vocabularies: printable Latin-1 bytes
/// (0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF) stand for themselves, the other 68 bytes map in ascending order
/// to U+0100.. U+0143. Every vocabulary key of a byte-level model is a string over these 256 chars.
/// </summary>
internal static class ByteLevelAlphabet
{
    /// <summary>Byte value to its stand-in char.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>Stand-in char (index &lt; 0x144) to byte value, or -1 for chars outside the alphabet.</summary>
    private static readonly short[] CharToByteTable = BuildCharToByte();

    /// <summary>The byte a stand-in char encodes, or -1 when the char is not in the alphabet.</summary>
    public static int CharToByte(char c) => c < CharToByteTable.Length ? CharToByteTable[c] : -1;

    /// <summary>
    /// Bytes of a vocabulary token string; false (and no bytes) when some char is outside the alphabet,
    /// so the caller can fall back to the string's UTF-8 like HF's ByteLevel decoder does.
    /// </summary>
    public static bool TryDecode(string token, out byte[] bytes)
    {
        bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            int b = CharToByte(token[i]);
            if (b < 0)
            {
                bytes = [];
                return false;
            }
            bytes[i] = (byte)b;
        }
        return true;
    }

    /// <summary>Writes the stand-in chars of <paramref name="bytes"/>; destination must be as long.</summary>
    public static void Encode(ReadOnlySpan<byte> bytes, Span<char> destination)
    {
        for (int i = 0; i < bytes.Length; i++) destination[i] = ByteToChar[bytes[i]];
    }

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var table = new short[0x144];
        Array.Fill(table, (short)-1);
        for (int b = 0; b < 256; b++) table[ByteToChar[b]] = (short)b;
        return table;
    }
}
