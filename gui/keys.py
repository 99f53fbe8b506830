"""One key per tag, chosen to be easy to remember; shown beside each tag on screen."""

TAG_KEYS: dict[str, str] = {
    "clear": "1",
    "partly_cloudy": "2",
    "haze": "3",
    "cloudy": "4",
    "primary": "P",
    "agriculture": "A",
    "road": "R",
    "water": "W",
    "cultivation": "C",
    "habitation": "H",
    "bare_ground": "B",
    "selective_logging": "S",
    "artisinal_mine": "M",
    "blooming": "L",
    "slash_burn": "X",
    "blow_down": "D",
    "conventional_mine": "V",
}
# Shift + a tag's key accepts the model's call for that tag; these are the other review keys.
NEXT_SUSPECT = "N"
REVIEWED_AND_NEXT = "Space"
ACCEPT_ALL = "Shift+Return"
