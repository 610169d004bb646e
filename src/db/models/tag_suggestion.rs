//! The `tag_suggestions` table: tags a tagger proposed for an image, each with its
//! confidence, source and time, kept apart from the image's own tags until the owner
//! accepts them (SPEC §14). A row goes with its image.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::{images, tag_suggestions};

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = tag_suggestions)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct TagSuggestion {
    #[serde(skip)]
    pub image_id: i64,
    pub tag: String,
    #[serde(serialize_with = "two_places")]
    pub confidence: f32,
    pub source: String,
    #[serde(skip)]
    pub created_at: DateTime<Utc>,
}

/// A confidence as JSON shows it: 0.9, not 0.8999999761581421 (an `f32` widened).
fn two_places<S: serde::Serializer>(confidence: &f32, to: S) -> Result<S::Ok, S::Error> {
    to.serialize_f64((f64::from(*confidence) * 100.0).round() / 100.0)
}

/// The image's suggestions, surest first.
pub fn for_image(conn: &mut PgConnection, image_id: i64) -> QueryResult<Vec<TagSuggestion>> {
    tag_suggestions::table
        .filter(tag_suggestions::image_id.eq(image_id))
        .order((
            tag_suggestions::confidence.desc(),
            tag_suggestions::tag.asc(),
        ))
        .select(TagSuggestion::as_select())
        .load(conn)
}

/// The suggestions of each of `image_ids` (one query for a page of pictures).
pub fn for_images(
    conn: &mut PgConnection,
    image_ids: &[i64],
) -> QueryResult<HashMap<i64, Vec<TagSuggestion>>> {
    let rows: Vec<TagSuggestion> = tag_suggestions::table
        .filter(tag_suggestions::image_id.eq_any(image_ids))
        .order((
            tag_suggestions::image_id,
            tag_suggestions::confidence.desc(),
            tag_suggestions::tag.asc(),
        ))
        .select(TagSuggestion::as_select())
        .load(conn)?;
    let mut by_image: HashMap<i64, Vec<TagSuggestion>> = HashMap::new();
    for row in rows {
        by_image.entry(row.image_id).or_default().push(row);
    }
    Ok(by_image)
}

/// Replaces the image's suggestions with `found` (tag, confidence) from `source`.
pub fn replace(
    conn: &mut PgConnection,
    image_id: i64,
    source: &str,
    found: &[(String, f32)],
) -> QueryResult<()> {
    diesel::delete(tag_suggestions::table.filter(tag_suggestions::image_id.eq(image_id)))
        .execute(conn)?;
    let rows: Vec<_> = found
        .iter()
        .map(|(tag, confidence)| {
            (
                tag_suggestions::image_id.eq(image_id),
                tag_suggestions::tag.eq(tag),
                tag_suggestions::confidence.eq(*confidence),
                tag_suggestions::source.eq(source),
            )
        })
        .collect();
    diesel::insert_into(tag_suggestions::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

/// Drops the image's suggestions named in `tags` (all of them with `None`); the tags
/// that went.
pub fn remove(
    conn: &mut PgConnection,
    image_id: i64,
    tags: Option<&[String]>,
) -> QueryResult<Vec<String>> {
    let of_image = tag_suggestions::table.filter(tag_suggestions::image_id.eq(image_id));
    match tags {
        None => diesel::delete(of_image)
            .returning(tag_suggestions::tag)
            .get_results(conn),
        Some(tags) => diesel::delete(of_image.filter(tag_suggestions::tag.eq_any(tags)))
            .returning(tag_suggestions::tag)
            .get_results(conn),
    }
}

/// The distinct tags the user's pictures carry (a vocabulary always allows them), at
/// most `limit`.
pub fn owner_tags(conn: &mut PgConnection, user_id: i64, limit: i64) -> QueryResult<Vec<String>> {
    images::table
        .filter(images::user_id.eq(user_id))
        .filter(images::trashed_at.is_null())
        .select(diesel::dsl::sql::<diesel::sql_types::Text>(
            "DISTINCT unnest(tags)",
        ))
        .limit(limit)
        .load(conn)
}
