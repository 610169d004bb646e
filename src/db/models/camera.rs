//! The `camera_details` table: make, model and capture time of an uploaded photo, read
//! from its EXIF block at upload (see `storage::exif`), shown on the owner's image page.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::camera_details;
use crate::storage::exif::Camera;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = camera_details)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct CameraDetails {
    pub image_id: i64,
    pub make: Option<String>,
    pub model: Option<String>,
    pub taken_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut PgConnection, image_id: i64, camera: &Camera) -> QueryResult<()> {
    diesel::insert_into(camera_details::table)
        .values((
            camera_details::image_id.eq(image_id),
            camera_details::make.eq(&camera.make),
            camera_details::model.eq(&camera.model),
            camera_details::taken_at.eq(camera.taken_at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut PgConnection, image_id: i64) -> QueryResult<Option<CameraDetails>> {
    camera_details::table
        .find(image_id)
        .select(CameraDetails::as_select())
        .first(conn)
        .optional()
}
