"""The names of the wire formats, for every place that offers or checks one: `[codec] name`,
`invalidate --codec`, `tail --codec`, `bench --codec`, the publisher and the decoder.

Kept apart from the codecs so that a command's options and completion can name them without
loading any codec.
"""

#: the formats a publisher writes
CODEC_NAMES = ("native", "wso2")
#: the formats a reader takes: "auto" tells them apart message by message
READ_CODECS = ("auto", *CODEC_NAMES)
