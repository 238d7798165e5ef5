//! AWS region names: whether a string is shaped like one (`us-east-1`, `us-gov-west-1`,
//! `eusc-de-east-1`), so that a SigV4 scope naming `local` or `US-EAST-1` can be refused before
//! it becomes part of an ARN or a store key.
//!
//! The shape, from every region AWS has named so far in its partitions (commercial, China,
//! GovCloud, the ISO ones and the European Sovereign Cloud): an area (`us`, `eu`, `ap`, `eusc`),
//! at most one qualifier (`gov`, `iso`, `isob`, `de`), a direction from a fixed set, and a
//! number — lowercase, joined by hyphens. The list of regions itself is not kept: new ones
//! appear every year, and a region berth has not heard of is still a region.

/// Directions AWS region names use, between the area and the number.
const DIRECTIONS: [&str; 9] = [
    "east",
    "west",
    "north",
    "south",
    "central",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
];

/// The longest area or qualifier (`eusc`, `isob`): longer ones are not region names.
const MAX_PART: usize = 4;

/// Whether `name` is shaped like an AWS region name (see the module docs).
pub fn is_well_formed(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let (prefix, [direction, number]) = match parts.as_slice() {
        [area, direction, number] => (vec![*area], [*direction, *number]),
        [area, qualifier, direction, number] => (vec![*area, *qualifier], [*direction, *number]),
        _ => return false,
    };
    let word = |part: &str| {
        (2..=MAX_PART).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_lowercase())
    };
    prefix.iter().all(|part| word(part))
        && DIRECTIONS.contains(&direction)
        && is_region_number(number)
}

/// 1 to 99, without a leading zero.
fn is_region_number(number: &str) -> bool {
    (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_and_lookalikes() {
        let cases = [
            ("us-east-1", true),
            ("us-west-2", true),
            ("eu-west-3", true),
            ("eu-central-2", true),
            ("ap-southeast-2", true),
            ("ap-southeast-7", true),
            ("ap-northeast-3", true),
            ("sa-east-1", true),
            ("me-south-1", true),
            ("af-south-1", true),
            ("us-gov-west-1", true),
            ("us-gov-east-1", true),
            ("cn-north-1", true),
            ("cn-northwest-1", true),
            ("il-central-1", true),
            ("ca-west-1", true),
            ("mx-central-1", true),
            ("us-iso-east-1", true),
            ("us-isob-east-1", true),
            ("eu-isoe-west-1", true),
            ("eusc-de-east-1", true),
            ("us-east-10", true),
            ("", false),
            ("local", false),
            ("us-east", false),
            ("us-east-", false),
            ("-east-1", false),
            ("US-EAST-1", false),
            ("Us-east-1", false),
            ("us-East-1", false),
            ("..", false),
            ("us..east-1", false),
            ("us.east.1", false),
            ("us_east_1", false),
            ("us-east-1 ", false),
            (" us-east-1", false),
            ("us-east-01", false),
            ("us-east-0", false),
            ("us-east-100", false),
            ("us-east-1a", false),
            ("us-up-1", false),
            ("us-gov-up-1", false),
            ("u-east-1", false),
            ("useast-east-1", false),
            ("us-gov2-west-1", false),
            ("us-government-west-1", false),
            ("a-b-c-d-e-1", false),
            ("us-gov-de-west-1", false),
            ("us-east-1-1", false),
            ("us-east-+1", false),
            ("us-east-١", false),
            ("us/../east-1", false),
        ];
        for (name, expected) in cases {
            assert_eq!(is_well_formed(name), expected, "{name:?}");
        }
    }
}
