"""Operations: push containers through the Tag Manager API and roll out on Cloud Run."""
