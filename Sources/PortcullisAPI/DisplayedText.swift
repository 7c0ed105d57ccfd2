/// Text someone typed that Portcullis shows to someone else: names in the portals' pages, what an
/// in-cluster SDK says of its cluster. A control character breaks the page or the log line it is
/// in; a direction override (U+202E…) makes the text read as something else (`\u{202E}gnirts`
/// displays as "string").
public enum DisplayedText {
    public static let directionControls: Set<UInt32> = [0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069,
                                                         0x200E, 0x200F, 0x061C]

    public static func hasControlOrDirectionCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.properties.generalCategory == .control || directionControls.contains($0.value) }
    }
}
